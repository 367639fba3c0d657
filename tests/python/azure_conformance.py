"""Drives the official Azure SDK for Python against the stand-in, changing only the endpoint,
the CA bundle (REQUESTS_CA_BUNDLE) and instance discovery. Prints what it saw as JSON.

Usage: azure_conformance.py BASE_URL TENANT CLIENT_ID SECRET SUBSCRIPTION
"""

import json
import sys

from azure.mgmt.resource.deployments import DeploymentsMgmtClient
from azure.mgmt.resource.resources import ResourceManagementClient

from standin_arm import StandIn

standin = StandIn()
resources = standin.client(ResourceManagementClient)
deployments = standin.client(DeploymentsMgmtClient)

seen = {}
seen["exists_before"] = resources.resource_groups.check_existence("rg-py")
group = resources.resource_groups.create_or_update("rg-py", {"location": "westeurope"})
seen["group_id"] = group.id
seen["exists_after"] = resources.resource_groups.check_existence("rg-py")

template = json.loads(sys.stdin.read())
properties = {"mode": "Incremental", "template": template, "parameters": {"baseName": {"value": "pyapp"}}}

result = deployments.deployments.begin_create_or_update("rg-py", "py1", {"properties": properties}).result()
seen["state"] = result.properties.provisioning_state
seen["outputs"] = result.properties.outputs
seen["operations"] = sorted(
    op.properties.target_resource.resource_type
    for op in deployments.deployment_operations.list("rg-py", "py1")
)

validation = deployments.deployments.begin_validate("rg-py", "py2", {"properties": properties}).result()
seen["validated"] = [r.id for r in validation.properties.validated_resources]

what_if = deployments.deployments.begin_what_if("rg-py", "py3", {"properties": properties}).result()
seen["what_if"] = sorted(c.change_type for c in what_if.changes)

poller = deployments.deployments.begin_create_or_update("rg-py", "slow", {"properties": properties})
deployments.deployments.cancel("rg-py", "slow")
seen["canceled"] = deployments.deployments.get("rg-py", "slow").properties.provisioning_state

print(json.dumps(seen))
