"""Deploys a registered MLflow model to a managed online endpoint with the official azure-ai-ml
(MLClient, unchanged; AZUREML_DEV_URL_MFE points it at the stand-in, REQUESTS_CA_BUNDLE trusts
its CA), scores it, reads logs and keys, and deletes it. Prints what it saw as one JSON object.

Usage: azureml_endpoint_conformance.py BASE_URL TENANT CLIENT_ID SECRET SUBSCRIPTION RESOURCE_GROUP
       WORKSPACE MODEL_ID BROKEN_MODEL_ID REQUEST_FILE
"""

import json
import sys

import requests
from azure.ai.ml import MLClient
from azure.ai.ml.entities import ManagedOnlineDeployment, ManagedOnlineEndpoint, ProbeSettings
from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential

base, tenant, client_id, secret, subscription, rg, ws, model_id, broken_id, request_file = sys.argv[1:11]
credential = ClientSecretCredential(tenant, client_id, secret, authority=base, disable_instance_discovery=True)
ml = MLClient(credential, subscription, rg, ws)
seen = {}

# Probes every second, so that the deployment is ready (or failed) within seconds.
probe = ProbeSettings(initial_delay=1, period=1, timeout=2, failure_threshold=60)


def deployment(name, model):
    return ManagedOnlineDeployment(
        name=name,
        endpoint_name="ep-conf",
        model=model,
        instance_type="Standard_DS3_v2",
        instance_count=1,
        readiness_probe=probe,
    )


endpoint = ml.online_endpoints.begin_create_or_update(
    ManagedOnlineEndpoint(name="ep-conf", auth_mode="key", tags={"suite": "conformance"})
).result()
seen["endpoint_state"] = endpoint.provisioning_state
blue = ml.online_deployments.begin_create_or_update(deployment("blue", model_id)).result()
seen["deployment_state"] = blue.provisioning_state

endpoint = ml.online_endpoints.get("ep-conf")
endpoint.traffic = {"blue": 100}
ml.online_endpoints.begin_create_or_update(endpoint).result()
endpoint = ml.online_endpoints.get("ep-conf")
seen["traffic"] = endpoint.traffic
seen["auth_mode"] = endpoint.auth_mode
seen["scoring_uri"] = endpoint.scoring_uri
got = ml.online_deployments.get("blue", "ep-conf")
seen["deployment_model"] = got.model
seen["request_timeout_ms"] = got.request_settings.request_timeout_ms

seen["predictions"] = json.loads(ml.online_endpoints.invoke("ep-conf", request_file=request_file))
seen["pinned_predictions"] = json.loads(
    ml.online_endpoints.invoke("ep-conf", request_file=request_file, deployment_name="blue")
)
seen["storage_log"] = ml.online_deployments.get_logs("blue", "ep-conf", lines=100, container_type="storage-initializer")
seen["server_log"] = ml.online_deployments.get_logs("blue", "ep-conf", lines=100)

keys = ml.online_endpoints.get_keys("ep-conf")
ml.online_endpoints.begin_regenerate_keys("ep-conf", key_type="primary").result()
after = ml.online_endpoints.get_keys("ep-conf")
seen["primary_changed"] = keys.primary_key != after.primary_key
seen["secondary_kept"] = keys.secondary_key == after.secondary_key
with open(request_file) as f:
    body = json.load(f)
verify = __import__("os").environ["REQUESTS_CA_BUNDLE"]
seen["old_key_status"] = requests.post(
    endpoint.scoring_uri, json=body, headers={"Authorization": f"Bearer {keys.primary_key}"}, verify=verify
).status_code
seen["new_key_status"] = requests.post(
    endpoint.scoring_uri, json=body, headers={"Authorization": f"Bearer {after.primary_key}"}, verify=verify
).status_code

try:
    ml.online_deployments.begin_create_or_update(deployment("red", broken_id)).result()
    seen["broken"] = "no error"
except HttpResponseError as e:
    seen["broken"] = str(e.message)
seen["broken_state"] = ml.online_deployments.get("red", "ep-conf").provisioning_state
seen["broken_log"] = ml.online_deployments.get_logs("red", "ep-conf", lines=100)

ml.online_endpoints.begin_delete("ep-conf").result()
seen["endpoints_after_delete"] = [e.name for e in ml.online_endpoints.list()]
print(json.dumps(seen))
