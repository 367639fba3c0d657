"""Prints a SAS for Azurite's dev account, made by the official SDK: blob_sas.py PERMISSIONS [CONTAINER].

PERMISSIONS is a string of SAS letters (r read, w write, l list, a add, c create, d delete).
Without CONTAINER the token is an account SAS covering the service, containers and blobs; with it,
a service SAS scoped to that container (which cannot create the container). Either is valid for an
hour, so the tests exercise the signature and permission checks Azurite applies to every request.
"""
import datetime
import json
import sys

from azure.storage.blob import (
    AccountSasPermissions,
    ContainerSasPermissions,
    ResourceTypes,
    generate_account_sas,
    generate_container_sas,
)

ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented by Azurite).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

letters = sys.argv[1]
expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
flags = dict(
    read="r" in letters,
    write="w" in letters,
    list="l" in letters,
    add="a" in letters,
    create="c" in letters,
    delete="d" in letters,
)
if len(sys.argv) > 2:
    token = generate_container_sas(
        ACCOUNT, sys.argv[2], account_key=KEY, permission=ContainerSasPermissions(**flags), expiry=expiry
    )
else:
    token = generate_account_sas(
        ACCOUNT,
        KEY,
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(**flags),
        expiry=expiry,
    )
print(json.dumps({"sas": token}))
