"""Make real Django 5.2 hashes: python make_django_hashes.py > django_hashes.json

Run in a scratch virtualenv with Django, argon2-cffi and bcrypt, for example
``uv run --no-project --with 'django==5.2.*' --with argon2-cffi --with bcrypt python
make_django_hashes.py > django_hashes.json``.

"hashes" are at Django's own cost (PBKDF2 at 1,000,000 iterations, …): one test per format
checks them. "cheap_hashes" are made by the same Django hashers with their cost attributes
lowered, the way Django's own test suite lowers them, for every other test that needs a Django
hash: the same formats and code paths, about a thousand times cheaper.
"""
import json
from contextlib import contextmanager
from unittest import mock

import django
from django.conf import settings

settings.configure(PASSWORD_HASHERS=[
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
    "django.contrib.auth.hashers.MD5PasswordHasher",
])
django.setup()
from django.contrib.auth import hashers  # noqa: E402
from django.contrib.auth.hashers import check_password, make_password  # noqa: E402

FORMATS = ["pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "scrypt", "md5"]
# The lowest costs each hasher (and the service's parser) accepts, or near them.
CHEAP = {
    hashers.PBKDF2PasswordHasher: {"iterations": 1000},
    hashers.PBKDF2SHA1PasswordHasher: {"iterations": 1000},
    hashers.Argon2PasswordHasher: {"time_cost": 1, "memory_cost": 8, "parallelism": 1},
    hashers.BCryptSHA256PasswordHasher: {"rounds": 4},
    hashers.ScryptPasswordHasher: {"work_factor": 2**4, "block_size": 8, "parallelism": 1},
}


@contextmanager
def cheap():
    with mock.patch.multiple(hashers.PBKDF2PasswordHasher, **CHEAP[hashers.PBKDF2PasswordHasher]):
        patches = [mock.patch.multiple(cls, **attrs) for cls, attrs in CHEAP.items()
                   if cls is not hashers.PBKDF2PasswordHasher]
        for patch in patches:
            patch.start()
        try:
            yield
        finally:
            for patch in patches:
                patch.stop()


def made(password, **kwargs):
    out = {}
    for algo in FORMATS:
        h = make_password(password, hasher=algo, **kwargs)
        assert check_password(password, h)
        out[algo] = h
    return out


pw = "django-era secret"
out = {"django": django.get_version(), "password": pw, "hashes": made(pw)}
with cheap():
    out["cheap_hashes"] = made(pw)
    # A known answer: make_password("hunter2-hunter2", salt="legacysaltvalue1") at 1000 rounds.
    out["cheap_known_answer"] = {
        "password": "hunter2-hunter2",
        "hash": make_password("hunter2-hunter2", salt="legacysaltvalue1", hasher="pbkdf2_sha256"),
    }
print(json.dumps(out, indent=2))
