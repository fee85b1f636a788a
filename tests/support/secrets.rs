//! Secrets and personal data of every kind the redaction knows, planted in log messages by
//! the tests that check none of them gets out.

/// (message carrying the secret, the part that must not be printed)
pub const PLANTED: &[(&str, &str)] = &[
    (
        "GitHub call failed with ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        "aBcDeFgHiJkLmNoPq",
    ),
    (
        "push failed: github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        "11ABCDEFG0123",
    ),
    ("GitLab rejected glpat-xYz12AbCdEfGhIjKlMnO", "xYz12AbCdEf"),
    (
        "Google API key AIzaSyA1234567890abcdefghijklmnopqrstu refused",
        "SyA1234567890abc",
    ),
    (
        "OAuth access ya29.a0AfH6SMBx3kLmN0pQrStUvWxYz_1234567890abcdEFG expired",
        "a0AfH6SMBx3k",
    ),
    (
        "refresh with 1//0gLmNoPqRsTuVwXyZ-abcdefGHIJKL0123456789 failed",
        "0gLmNoPqRsTu",
    ),
    (
        "boto creds AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY denied",
        "wJalrXUtnFEMI",
    ),
    ("S3 denied key AKIAI44QH8DHBEXAMPLE", "AKIAI44QH8DHBEXAMPLE"),
    (
        "presign https://b.s3.amazonaws.com/o?X-Amz-Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe failed",
        "fe5f80f77d5fa3be",
    ),
    (
        "sigv4 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/s3/aws4_request, Signature=5d672d79c15b13162d9279b0855cfba6",
        "5d672d79c15b1316",
    ),
    (
        "GCS url ?X-Goog-Signature=8f3c2a9b7d6e5f4a3b2c1d0e9f8a7b6c expired",
        "8f3c2a9b7d6e5f4a",
    ),
    (
        r#"bad service account {"private_key_id": "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b"}"#,
        "1a2b3c4d5e6f7a8b",
    ),
    (
        "bad key -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq98\n-----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEA",
    ),
    (
        "request headers Cookie: sessionid=abc123def456ghi; csrftoken=XyZ987wvu654",
        "abc123def456ghi",
    ),
    (
        "upstream sent Set-Cookie: __Host-auth=QmFzZTY0VmFsdWUx; Path=/; HttpOnly",
        "QmFzZTY0VmFsdWUx",
    ),
    ("401 with Authorization: Bearer x9Zq", "x9Zq"),
    (
        r#"401 with Authorization: Digest username="bob", response="6629fae49393a05397450978507c4ef1""#,
        "6629fae49393a053",
    ),
    (
        "401 with Authorization: SharedKey acct:ctzMq410TV3wS7upTBcunJTDLEJwMAZuFPfr0mrrA08=",
        "ctzMq410TV3wS7up",
    ),
    (
        "401 with Proxy-Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l",
        "YWxhZGRpbjpvcGVu",
    ),
    (
        "401 with Authorization: 9f8e7d6c5b4a39281706",
        "9f8e7d6c5b4a3928",
    ),
    (
        "slack post https://hooks.slack.com/services/T024BE7LD/B01ABCDEF12/9aBcDeFgHiJkLmNoPqRsTuVw failed",
        "9aBcDeFgHiJkLmNo",
    ),
    (
        "socket mode xapp-1-A01BCDEFGHI-1234567890123-0123456789abcdef0123456789abcdef",
        "A01BCDEFGHI",
    ),
    (
        "slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "AbCdEfGhIjKlMnOp",
    ),
    (
        "stripe rk_live_51H8zYxWvUtSrQpOnMlKjIhGfE invalid",
        "51H8zYxWvUtSr",
    ),
    (
        "stripe sk_live_51H8aBcDeFgHiJkLmNoPqRsTuV invalid",
        "51H8aBcDeFgHi",
    ),
    (
        "webhook whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw mismatch",
        "MfKQ9r8GKYqr",
    ),
    (
        "npm publish npm_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 denied",
        "aBcDeFgHiJkLmNoPq",
    ),
    (
        "openai sk-proj-aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789_-abcdEFGH 429",
        "aBcDeFgHiJkLmNoPq",
    ),
    (
        "sendgrid SG.aBcDeFgHiJkLmNoPqRsTuV.wXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVwXyZ01234 401",
        "wXyZ0123456789aBc",
    ),
    (
        "twilio SK0123456789abcdef0123456789abcdef auth_token=fedcba9876543210fedcba9876543210",
        "fedcba9876543210",
    ),
    (
        "azure DefaultEndpointsProtocol=https;AccountName=a;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50u==;EndpointSuffix=core.windows.net",
        "Eby8vdM02xNOcqFl",
    ),
    (
        "servicebus Endpoint=sb://ns/;SharedAccessKeyName=Root;SharedAccessKey=abcDEF123456ghiJKL789mnoPQR=",
        "abcDEF123456ghiJ",
    ),
    (
        "charge failed for card 4111 1111 1111 1111",
        "4111 1111 1111 1111",
    ),
    (
        "charge failed for card 5500-0000-0000-0004",
        "5500-0000-0000-0004",
    ),
    (
        "cache connect redis://default:pa/ss0rd@cache:6379/0 refused",
        "pa/ss0rd",
    ),
    (
        "broker amqp://user:p@ssw0rd@rabbit:5672/vhost refused",
        "p@ssw0rd",
    ),
    (
        r#"login payload {"password": "correct horse battery staple"}"#,
        "horse battery",
    ),
    (
        "db pass=Tr0ub4dorPass pw=c0rrectH0rse passphrase=open-sesame-42",
        "Tr0ub4dorPass",
    ),
    ("mysql pw=c0rrectH0rse denied", "c0rrectH0rse"),
    ("gpg passphrase=open-sesame-42 wrong", "open-sesame-42"),
    (
        "redirect next=https%3A%2F%2Fapi.example.com%2Fcb%2Fghp_zYxWvUtSrQpOnMlKjIhGfEdCbA9876543210",
        "zYxWvUtSrQpOnMlKj",
    ),
    (
        "GET /login?q=password%3DHunter2Secret%26user%3Dbob 403",
        "Hunter2Secret",
    ),
    (
        "proxy creds dXNlcjpwYXNzd29yZA== rejected",
        "dXNlcjpwYXNzd29yZA",
    ),
    (
        "config blob Z2hwX2FCY0RlRmdIaUprTG1Ob1BxUnNUdVZ3WHlaMDEyMzQ1Njc4OQ== bad",
        "Z2hwX2FCY0RlRmdI",
    ),
    (
        "could not email jane.doe@example.com",
        "jane.doe@example.com",
    ),
    ("could not email jane+billing@example.co.uk", "jane+billing"),
    ("could not email jürgen.müller@beispiel.de", "jürgen.müller"),
    (
        "GET https://app.example.com/users/bob.smith@example.org/profile 500",
        "bob.smith@example.org",
    ),
    (
        "GET /reset?email=ann.lee%40example.com 500",
        "ann.lee%40example",
    ),
    ("connect to 203.0.113.42:5432 refused", "203.0.113.42"),
    (
        "client 2001:db8:85a3::8a2e:370:7334 reset the stream",
        "2001:db8:85a3",
    ),
    ("peer 2a00:1450:4001:81b::200e unreachable", "2a00:1450"),
];
