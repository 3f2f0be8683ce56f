#!/usr/bin/env bash
# Regenerates every vector in this directory (see README.md). Needs
# ssh-keygen, openssl and the project virtualenv (moto 5.2.5, in-process:
# nothing leaves this machine).
set -euo pipefail
cd "$(dirname "$0")"
python="${BERTH_PYTHON:-../../../../.venv/bin/python}"
rm -f rsa* ed25519* moto-*

# One RSA key in every file format berth reads.
ssh-keygen -q -t rsa -b 2048 -m PEM -N '' -C berth-test-rsa -f rsa.pem
mv rsa.pem.pub rsa.pub
openssl pkcs8 -topk8 -nocrypt -in rsa.pem -out rsa.pkcs8.pem
cp rsa.pem rsa.openssh && ssh-keygen -q -p -N '' -f rsa.openssh >/dev/null
cp rsa.pem rsa.openssh-encrypted && ssh-keygen -q -p -N berth -f rsa.openssh-encrypted >/dev/null
openssl rsa -in rsa.pem -traditional -aes128 -passout pass:berth -out rsa.pkcs1-encrypted.pem 2>/dev/null
openssl pkcs8 -topk8 -in rsa.pem -passout pass:berth -out rsa.pkcs8-encrypted.pem

# EC2's documented commands (verify-keys): created RSA keys, imported RSA keys.
openssl pkcs8 -in rsa.pem -inform PEM -outform DER -topk8 -nocrypt | openssl sha1 -c \
  | sed 's/^.*= //' > rsa.ec2-created.fingerprint
ssh-keygen -ef rsa.pub -m PEM | openssl rsa -RSAPublicKey_in -outform DER 2>/dev/null \
  | openssl md5 -c | sed 's/^.*= //' > rsa.ec2-imported.fingerprint

# ED25519: OpenSSH's SHA-256 fingerprint, written the way EC2 reports it
# (no "SHA256:" prefix, '=' padding to a whole base64 quantum).
ssh-keygen -q -t ed25519 -N '' -C berth-test-ed25519 -f ed25519.openssh
mv ed25519.openssh.pub ed25519.pub
cp ed25519.openssh ed25519.openssh-encrypted && ssh-keygen -q -p -N berth -f ed25519.openssh-encrypted >/dev/null 2>&1
ssh-keygen -l -E sha256 -f ed25519.pub | awk '{print $2}' | sed 's/^SHA256://; s/$/=/' \
  > ed25519.ec2.fingerprint

# What moto reports: created key pairs, and the two public keys above imported.
"$python" - <<'PY'
import boto3
from cryptography.hazmat.primitives import serialization
from moto import mock_aws

with open("ed25519.openssh", "rb") as f:
    ed = serialization.load_ssh_private_key(f.read(), password=None)
with open("ed25519.pkcs8.pem", "wb") as f:
    f.write(ed.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()))

with mock_aws():
    ec2 = boto3.client("ec2", region_name="us-east-1", aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    for name, key_type in (("moto-created-rsa", "rsa"), ("moto-created-ed25519", "ed25519")):
        kp = ec2.create_key_pair(KeyName=name, KeyType=key_type)
        with open(f"{name}.pem", "w") as f:
            f.write(kp["KeyMaterial"].rstrip("\n") + "\n")
        with open(f"{name}.fingerprint", "w") as f:
            f.write(kp["KeyFingerprint"] + "\n")
    for name in ("rsa", "ed25519"):
        with open(f"{name}.pub", "rb") as f:
            kp = ec2.import_key_pair(KeyName=name, PublicKeyMaterial=f.read())
        with open(f"{name}.moto-imported.fingerprint", "w") as f:
            f.write(kp["KeyFingerprint"] + "\n")
PY
chmod 600 ./*.pem ./*.openssh*

# What EC2 itself would report for the two keys moto created (moto differs).
openssl pkcs8 -in moto-created-rsa.pem -inform PEM -outform DER -topk8 -nocrypt | openssl sha1 -c \
  | sed 's/^.*= //' > moto-created-rsa.ec2.fingerprint
ssh-keygen -l -E sha256 -f moto-created-ed25519.pem | awk '{print $2}' | sed 's/^SHA256://; s/$/=/' \
  > moto-created-ed25519.ec2.fingerprint
