"""Make real Django 5.2 hashes: python gen.py > hashes.json"""
import json
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
from django.contrib.auth.hashers import make_password, get_hasher, check_password

pw = "django-era secret"
out = {"django": django.get_version(), "password": pw, "hashes": {}}
for algo in ["pbkdf2_sha256", "pbkdf2_sha1", "argon2", "bcrypt_sha256", "scrypt", "md5"]:
    h = make_password(pw, hasher=algo)
    assert check_password(pw, h)
    out["hashes"][algo] = h
print(json.dumps(out, indent=2))
