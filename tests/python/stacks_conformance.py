"""Drives the official deployment stacks client (azure-mgmt-resource-deploymentstacks, at
api-version 2024-03-01, the one mlops uses) against the stand-in, changing only the endpoint, the CA bundle
(REQUESTS_CA_BUNDLE) and instance discovery: create a stack, re-deploy it without a resource
(deleted per actionOnUnmanage), list it, delete it with unmanageAction=delete, and read the
resources back with the generic resources client. Prints what it saw as JSON.

Usage: stacks_conformance.py BASE_URL TENANT CLIENT_ID SECRET SUBSCRIPTION < template.json
"""

import json
import sys

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.resource.deploymentstacks import DeploymentStacksClient
from azure.mgmt.resource.resources import ResourceManagementClient

from standin_arm import StandIn

standin = StandIn()
resources = standin.client(ResourceManagementClient)
stacks = standin.client(DeploymentStacksClient, api_version="2024-03-01").deployment_stacks
# Version 1.0.0 of the client refuses its own delete at 2024-03-01 (it passes a 2025-07-01-only
# keyword as None and then rejects it), so the delete goes through the client's default version.
stacks_default = standin.client(DeploymentStacksClient).deployment_stacks

resources.resource_groups.create_or_update("rg-stack", {"location": "westeurope"})
template = json.loads(sys.stdin.read())


def body(with_logs):
    return {
        "properties": {
            "template": template,
            "parameters": {"baseName": {"value": "py"}, "withLogs": {"value": with_logs}},
            "actionOnUnmanage": {"resources": "delete", "resourceGroups": "delete", "managementGroups": "detach"},
            "denySettings": {"mode": "none"},
        }
    }


def exists(resource_id):
    try:
        resources.resources.get_by_id(resource_id, api_version="2023-09-01")
        return True
    except ResourceNotFoundError:
        return False


seen = {}
stack = stacks.begin_create_or_update_at_resource_group("rg-stack", "pystack", body(True)).result()
seen["state"] = stack.properties.provisioning_state
seen["managed"] = sorted(r.id for r in stack.properties.resources)
seen["statuses"] = sorted({r.status for r in stack.properties.resources})
seen["outputs"] = stack.properties.outputs
log_id = next(i for i in seen["managed"] if "/workspaces/" in i)
seen["log_exists_before"] = exists(log_id)

stack = stacks.begin_create_or_update_at_resource_group("rg-stack", "pystack", body(False)).result()
seen["deleted"] = [r.id for r in stack.properties.deleted_resources]
seen["log_exists_after"] = exists(log_id)

seen["listed"] = [s.name for s in stacks.list_at_resource_group("rg-stack")]
storage_id = stack.properties.resources[0].id
stacks_default.begin_delete_at_resource_group(
    "rg-stack", "pystack", unmanage_action_resources="delete", unmanage_action_resource_groups="delete"
).result()
seen["storage_exists_after_delete"] = exists(storage_id)
try:
    stacks.get_at_resource_group("rg-stack", "pystack")
    seen["stack_after_delete"] = "found"
except ResourceNotFoundError:
    seen["stack_after_delete"] = "not found"

print(json.dumps(seen))
