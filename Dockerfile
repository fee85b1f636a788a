# log-gardener's container: `log-gardener serve`, the GitHub App.
#
# NOT TESTED HERE: Docker cannot run on the machine this file was written on, so this image
# has never been built from this file. The build steps are the ones the project uses
# (`cargo build --release --locked`) on the same Debian release (bookworm, gcc 12).
#
#   docker build -t log-gardener .
#   docker run --rm -p 3000:3000 -e APP_ID=... -e PRIVATE_KEY="$(cat key.pem)" \
#     -e WEBHOOK_SECRET=... -e SWEEP_INTERVAL=off log-gardener
#
# The default DATABASE_URL (sqlite://log-gardener.db) is a file in the working directory,
# /home/nonroot here. On Cloud Run that file lives in the instance's in-memory filesystem
# and is lost with the instance: set DATABASE_URL (see the README, "Deploying on Cloud Run").

# ---- build ----
FROM rust:1.95-slim-bookworm AS build
# The slim image already has gcc and libc6-dev, which is all the C code needs: aws-lc-sys
# (rustls' crypto, the App's JWT signing) and the bundled SQLite are compiled with plain gcc
# through the `cc` crate; no cmake, Go, clang or perl is required (the project builds the same
# way on a bookworm machine without cmake).
WORKDIR /src
# The whole context (see .dockerignore): Cargo.toml names the benches, so they must be
# present; templates/ and migrations/ are compiled into the binary.
COPY . .
RUN cargo build --release --locked \
 && cp target/release/log-gardener /usr/local/bin/log-gardener

# ---- runtime ----
# distroless/cc: glibc, libgcc and the system CA bundle, which the HTTPS clients (octocrab and
# Google's client, both on rustls) need: without a CA bundle the App fails at start.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /usr/local/bin/log-gardener /usr/local/bin/log-gardener
# nonroot's home, writable by it: where a default SQLite file would go.
WORKDIR /home/nonroot
# Cloud Run sets PORT itself (8080 unless told otherwise); HOST defaults to 0.0.0.0.
# json: one structured line per event on stderr, with Cloud Logging's `severity`.
ENV PORT=3000 LOG_FORMAT=json
USER nonroot
EXPOSE 3000
ENTRYPOINT ["/usr/local/bin/log-gardener"]
CMD ["serve"]
