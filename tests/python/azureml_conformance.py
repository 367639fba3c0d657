"""Drives the Azure ML management client that azure-ai-ml ships (the generated
MachineLearningServicesMgmtClient, api-version 2025-09-01) against the stand-in, changing only the
endpoint, the CA bundle (REQUESTS_CA_BUNDLE) and instance discovery. Prints what it saw as JSON.

Usage: azureml_conformance.py BASE_URL TENANT CLIENT_ID SECRET SUBSCRIPTION RESOURCE_GROUP WORKSPACE COMPUTE
"""

import json
import sys

from azure.ai.ml._restclient.arm_ml_service import MachineLearningServicesMgmtClient
from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential

base, tenant, client_id, secret, subscription, rg, ws, compute = sys.argv[1:9]
credential = ClientSecretCredential(tenant, client_id, secret, authority=base, disable_instance_discovery=True)
client = MachineLearningServicesMgmtClient(
    credential, subscription, base_url=base, api_version="2025-09-01", credential_scopes=[base + "/.default"]
)
ws_id = f"/subscriptions/{subscription}/resourceGroups/{rg}/providers/Microsoft.MachineLearningServices/workspaces/{ws}"

seen = {}
workspace = client.workspaces.get(rg, ws)
seen["location"] = workspace["location"]
seen["tracking_uri"] = workspace["properties"]["mlFlowTrackingUri"]

env = client.environment_versions.create_or_update(
    rg, ws, "pyenv", "1", {"properties": {"image": "python:3.12-slim", "osType": "Linux"}}
)
env_id = env["id"]
for version in ["1", "2", "3"]:
    spec = {
        "type": "command",
        "name": "py_comp",
        "version": version,
        "command": "echo ${{inputs.x}} > ${{outputs.out}}/x",
        "inputs": {"x": {"type": "string"}},
        "outputs": {"out": {"type": "uri_folder"}},
        "environment": "azureml:" + env_id,
    }
    client.component_versions.create_or_update(rg, ws, "py_comp", version, {"properties": {"componentSpec": spec}})
seen["component_versions"] = sorted(v["name"] for v in client.component_versions.list(rg, ws, "py_comp"))

job = {
    "jobType": "Command",
    "command": "echo hello",
    "environmentId": env_id,
    "computeId": f"{ws_id}/computes/{compute}",
    "experimentName": "py",
}
created = client.jobs.create_or_update(rg, ws, "pyjob", {"properties": job})
seen["job_created"] = created["properties"]["status"]
client.jobs.begin_cancel(rg, ws, "pyjob").result()
seen["job_after_cancel"] = client.jobs.get(rg, ws, "pyjob")["properties"]["status"]

try:
    client.jobs.create_or_update(rg, ws, "badjob", {"properties": {"command": "echo"}})
    seen["bad_job"] = "accepted"
except HttpResponseError as err:
    seen["bad_job"] = [err.status_code, err.error.code if err.error else None]

schedule = {
    "displayName": "py",
    "isEnabled": True,
    "trigger": {"triggerType": "Cron", "expression": "0 3 * * *", "timeZone": "UTC"},
    "action": {"actionType": "CreateJob", "jobDefinition": job},
}
result = client.schedules.begin_create_or_update(rg, ws, "pysched", {"properties": schedule}).result()
seen["schedule_state"] = result["properties"]["provisioningState"]
client.schedules.begin_delete(rg, ws, "pysched").result()
try:
    client.schedules.get(rg, ws, "pysched")
    seen["schedule_after_delete"] = "present"
except HttpResponseError as err:
    seen["schedule_after_delete"] = err.status_code

print(json.dumps(seen))
