#!/usr/bin/env python3
"""Writes seed-outage.json: a Cloud Run export of the outage in the seed worklog.

The service netra-backend cannot start: a module fails to import at start-up, the
middleware setup raises, gunicorn exits, the start-up probe fails, requests get 500/503,
and Cloud Run tries a new instance every six minutes. Ten attempts of sixteen entries:
160 entries, 50 ERROR, 50 WARNING, 10 NOTICE, 50 INFO, newest first as
`gcloud logging read --format=json` prints them. Deterministic: run it again to get the
same file.
"""
import json
import random
from datetime import datetime, timedelta, timezone

random.seed(20250915)
PROJECT = "netra-staging"
SERVICE = "netra-backend"
REVISION = "netra-backend-00087-kt2"
HOST = "https://netra-backend-701982941522.us-central1.run.app"
LOG = f"projects/{PROJECT}/logs/"
START = datetime(2025, 9, 15, 21, 48, 3, tzinfo=timezone.utc)

TRACEBACK = """Traceback (most recent call last):
  File "/usr/local/lib/python3.11/site-packages/gunicorn/arbiter.py", line 609, in spawn_worker
    worker.init_process()
  File "/app/netra_backend/app/main.py", line 31, in <module>
    app = create_app()
  File "/app/netra_backend/app/core/app_factory.py", line 88, in create_app
    setup_middleware(app)
  File "/app/netra_backend/app/core/middleware_setup.py", line 142, in setup_middleware
    from netra_backend.app.middleware.gcp_auth_context_middleware import GCPAuthContextMiddleware
  File "/app/netra_backend/app/middleware/gcp_auth_context_middleware.py", line 23, in <module>
    from netra_backend.app.services.monitoring import set_request_context, clear_request_context
ModuleNotFoundError: No module named 'netra_backend.app.services.monitoring'"""


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond:06d}{random.randint(0, 999):03d}Z"


def entry(t, severity, log, instance=None, **payload):
    e = {
        "insertId": "%016x" % random.getrandbits(64),
        "logName": LOG + log,
        "receiveTimestamp": ts(t + timedelta(milliseconds=40)),
        "resource": {
            "labels": {
                "configuration_name": SERVICE,
                "location": "us-central1",
                "project_id": PROJECT,
                "revision_name": REVISION,
                "service_name": SERVICE,
            },
            "type": "cloud_run_revision",
        },
        "severity": severity,
        "timestamp": ts(t),
    }
    if instance:
        e["labels"] = {"instanceId": instance}
    e.update(payload)
    return e


def request(t, method, path, status, trace):
    return entry(
        t, "ERROR", "run.googleapis.com%2Frequests",
        httpRequest={
            "latency": f"{random.uniform(0.001, 0.02):.6f}s",
            "protocol": "HTTP/1.1",
            "remoteIp": "35.191.%d.%d" % (random.randint(0, 255), random.randint(1, 254)),
            "requestMethod": method,
            "requestSize": "412",
            "requestUrl": HOST + path,
            "responseSize": "0",
            "status": status,
            "userAgent": "GoogleHC/1.0" if path == "/health" else "netra-frontend/2.4",
        },
        spanId="%016x" % random.getrandbits(64),
        trace=f"projects/{PROJECT}/traces/%032x" % trace,
        textPayload="The request failed because the instance could not start successfully.",
    )


def attempt(t, pid):
    instance = "00f46b9285" + "%054x" % random.getrandbits(216)
    stamp = t.strftime("%Y-%m-%d %H:%M:%S +0000")
    at = lambda s: t + timedelta(seconds=s)
    sysl, out, err = "run.googleapis.com%2Fvarlog%2Fsystem", "run.googleapis.com%2Fstdout", "run.googleapis.com%2Fstderr"
    return [
        entry(at(0.0), "INFO", sysl, instance, textPayload="Starting new instance. Reason: AUTOSCALING - Instance started due to configured scaling factors (e.g. CPU utilization, request throughput, etc.) or no existing capacity for current traffic."),
        entry(at(1.21), "INFO", err, instance, textPayload=f"[{stamp}] [1] [INFO] Starting gunicorn 23.0.0"),
        entry(at(1.23), "INFO", err, instance, textPayload=f"[{stamp}] [1] [INFO] Listening at: http://0.0.0.0:8000 (1)"),
        entry(at(1.24), "INFO", err, instance, textPayload=f"[{stamp}] [1] [INFO] Using worker: uvicorn.workers.UvicornWorker"),
        entry(at(1.30), "INFO", err, instance, textPayload=f"[{stamp}] [{pid}] [INFO] Booting worker with pid: {pid}"),
        entry(at(2.05), "WARNING", err, instance, textPayload="/app/netra_backend/app/core/config.py:14: DeprecationWarning: pkg_resources is deprecated as an API. See https://setuptools.pypa.io/en/latest/pkg_resources.html"),
        entry(at(2.21), "ERROR", err, instance, textPayload=TRACEBACK),
        entry(at(2.48), "ERROR", out, instance, jsonPayload={"message": "RuntimeError: Failed to setup enhanced middleware with WebSocket exclusion", "logger": "netra_backend.app.core.middleware_setup", "component": "gcp_auth_context_middleware"}),
        entry(at(2.49), "WARNING", out, instance, jsonPayload={"message": "WebSocket middleware configuration failed: authentication context setup blocked", "logger": "netra_backend.app.websocket_core"}),
        entry(at(2.52), "ERROR", err, instance, textPayload="Application startup failed. Exiting."),
        entry(at(2.61), "WARNING", err, instance, textPayload=f"[{stamp}] [1] [WARNING] Worker (pid:{pid}) exited with code 3"),
        entry(at(2.90), "WARNING", sysl, instance, textPayload="Container called exit(3)."),
        entry(at(3.05), "WARNING", sysl, instance, textPayload='Default STARTUP TCP probe failed 1 time consecutively for container "netra-backend-1" on port 8000. The instance was not started.'),
        request(at(4.10), "GET", "/health", 503, random.getrandbits(128)),
        request(at(4.72), "POST", "/api/v1/threads?limit=%d" % random.randint(10, 50), 500, random.getrandbits(128)),
        entry(at(5.30), "NOTICE", "cloudaudit.googleapis.com%2Fsystem_event", protoPayload={
            "@type": "type.googleapis.com/google.cloud.audit.AuditLog",
            "methodName": "/Services.CreateService",
            "resourceName": f"namespaces/{PROJECT}/revisions/{REVISION}",
            "serviceName": "run.googleapis.com",
            "status": {"code": 9, "message": f"Ready condition status changed to False for Revision {REVISION} with message: The user-provided container failed to start and listen on the port defined provided by the PORT=8000 environment variable."},
        }),
    ]


entries = []
for i in range(10):
    t = START + timedelta(minutes=6 * i, seconds=random.uniform(0, 20))
    entries += attempt(t, 7 + i)

entries.sort(key=lambda e: e["timestamp"], reverse=True)
with open(__file__.rsplit("/", 1)[0] + "/seed-outage.json", "w") as f:
    json.dump(entries, f, indent=2)
    f.write("\n")
