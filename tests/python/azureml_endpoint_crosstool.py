"""The official azure-ai-ml (MLClient, unchanged) on the same endpoints as `mlops endpoint`:
`create NAME` makes a key-auth endpoint; `read NAME DEPLOYMENT` prints what it sees of an endpoint
and one of its deployments as one JSON object; `keys NAME` what `get_keys` gives and whether
`begin_regenerate_keys` is allowed (never the secrets themselves).

Usage: azureml_endpoint_crosstool.py BASE_URL TENANT CLIENT_ID SECRET SUBSCRIPTION RESOURCE_GROUP
       WORKSPACE (create NAME | read NAME DEPLOYMENT | keys NAME)
"""

import json
import sys

from azure.ai.ml import MLClient
from azure.ai.ml.entities import ManagedOnlineEndpoint
from azure.ai.ml.exceptions import ValidationException
from azure.identity import ClientSecretCredential

base, tenant, client_id, secret, subscription, rg, ws, action, name = sys.argv[1:10]
credential = ClientSecretCredential(tenant, client_id, secret, authority=base, disable_instance_discovery=True)
ml = MLClient(credential, subscription, rg, ws)

if action == "create":
    endpoint = ml.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name=name, auth_mode="key", description="made by azure-ai-ml")
    ).result()
    print(json.dumps({"name": endpoint.name, "state": endpoint.provisioning_state}))
elif action == "keys":
    credentials = ml.online_endpoints.get_keys(name)
    try:
        ml.online_endpoints.begin_regenerate_keys(name, key_type="secondary").result()
        regenerate = "allowed"
    except ValidationException as err:
        regenerate = str(err)
    print(
        json.dumps(
            {
                "type": type(credentials).__name__,
                "has_access_token": bool(getattr(credentials, "access_token", None)),
                "has_primary_key": bool(getattr(credentials, "primary_key", None)),
                "regenerate": regenerate,
            }
        )
    )
else:
    deployment_name = sys.argv[10]
    endpoint = ml.online_endpoints.get(name)
    deployment = ml.online_deployments.get(deployment_name, name)
    print(
        json.dumps(
            {
                "name": endpoint.name,
                "auth_mode": endpoint.auth_mode,
                "traffic": endpoint.traffic,
                "scoring_uri": endpoint.scoring_uri,
                "deployment": deployment.name,
                "deployment_state": deployment.provisioning_state,
                "model": deployment.model,
                "instance_type": deployment.instance_type,
                "instance_count": deployment.instance_count,
                "endpoint_type": type(endpoint).__name__,
                "compute": getattr(endpoint, "compute", None),
                "mirror_traffic": getattr(endpoint, "mirror_traffic", None),
                "deployment_type": type(deployment).__name__,
                "environment": deployment.environment if isinstance(deployment.environment, str) else None,
            }
        )
    )
