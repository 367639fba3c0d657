"""Drives the official template specs client (azure-mgmt-resource-templatespecs, at its default
api-version 2022-02-01, the one mlops and the Bicep CLI read versions with) against the stand-in,
changing only the endpoint, the CA bundle (REQUESTS_CA_BUNDLE) and instance discovery: create a
template spec and a version holding the template on stdin, read the version back, and ask for a
version that does not exist. Prints what it saw as JSON.

Usage: template_specs_conformance.py BASE_URL TENANT CLIENT_ID SECRET SUBSCRIPTION < template.json
"""

import json
import sys

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.templatespecs import TemplateSpecsClient

from standin_arm import StandIn

standin = StandIn()
resources = standin.client(ResourceManagementClient)
client = standin.client(TemplateSpecsClient)
template = json.loads(sys.stdin.read())

resources.resource_groups.create_or_update("rg-specs", {"location": "westeurope"})
seen = {}
spec = client.template_specs.create_or_update(
    "rg-specs", "storage-spec", {"location": "westeurope", "properties": {"description": "storage"}}
)
seen["spec_id"] = spec.id
version = client.template_spec_versions.create_or_update(
    "rg-specs",
    "storage-spec",
    "1.0",
    {"location": "westeurope", "properties": {"description": "first", "mainTemplate": template}},
)
seen["version_id"] = version.id
seen["version_type"] = version.type
got = client.template_spec_versions.get("rg-specs", "storage-spec", "1.0")
seen["main_template"] = got.main_template
seen["description"] = got.description
try:
    client.template_spec_versions.get("rg-specs", "storage-spec", "9.9")
    seen["missing"] = "found"
except ResourceNotFoundError as error:
    seen["missing"] = error.status_code
print(json.dumps(seen))
