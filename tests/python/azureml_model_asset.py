"""Lists a model's versions with the Azure ML management client that azure-ai-ml ships (the
generated MachineLearningServicesMgmtClient), unchanged but for the endpoint and the CA bundle
(REQUESTS_CA_BUNDLE). Prints [{"version", "modelType", "modelUri", "tags"}] as JSON.

Usage: azureml_model_asset.py BASE_URL TENANT CLIENT_ID SECRET SUBSCRIPTION RESOURCE_GROUP WORKSPACE MODEL
"""

import json
import sys

from azure.ai.ml._restclient.arm_ml_service import MachineLearningServicesMgmtClient
from azure.identity import ClientSecretCredential

base, tenant, client_id, secret, subscription, rg, ws, model = sys.argv[1:9]
credential = ClientSecretCredential(tenant, client_id, secret, authority=base, disable_instance_discovery=True)
client = MachineLearningServicesMgmtClient(
    credential, subscription, base_url=base, api_version="2025-09-01", credential_scopes=[base + "/.default"]
)
versions = [
    {
        "version": v["name"],
        "modelType": v["properties"]["modelType"],
        "modelUri": v["properties"]["modelUri"],
        "tags": v["properties"]["tags"],
    }
    for v in client.model_versions.list(rg, ws, model)
]
print(json.dumps(versions))
