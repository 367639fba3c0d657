"""Lists a model's versions with the Azure ML management client that azure-ai-ml ships (the
generated MachineLearningServicesMgmtClient), unchanged but for the endpoint and the CA bundle
(REQUESTS_CA_BUNDLE). Prints [{"version", "modelType", "modelUri", "tags"}] as JSON.

With DEST, also downloads the files of each version the way `ml_client.models.download` does
(azureml-artifacts.md §6): the datastore named in `modelUri`, its `listSecrets` SAS, then
azure-ai-ml's own BlobStorageClient lists and downloads everything below the path. MLClient
itself cannot be pointed here: it builds the storage account URL from the cloud's storage suffix
(`https://<account>.blob.core.windows.net`), which does not resolve to the stand-in, so the same
steps are taken with the account URL path-style on the stand-in. Each entry then also has
"files": {relative path: sha256}, and the files are under DEST/<version>/.

Usage: azureml_model_asset.py BASE_URL TENANT CLIENT_ID SECRET SUBSCRIPTION RESOURCE_GROUP WORKSPACE MODEL [DEST]
"""

import hashlib
import json
import os
import sys

from azure.ai.ml._artifacts._blob_storage_helper import BlobStorageClient
from azure.ai.ml._restclient.arm_ml_service import MachineLearningServicesMgmtClient
from azure.identity import ClientSecretCredential

base, tenant, client_id, secret, subscription, rg, ws, model = sys.argv[1:9]
dest = sys.argv[9] if len(sys.argv) > 9 else None
credential = ClientSecretCredential(tenant, client_id, secret, authority=base, disable_instance_discovery=True)
client = MachineLearningServicesMgmtClient(
    credential, subscription, base_url=base, api_version="2025-09-01", credential_scopes=[base + "/.default"]
)


def download(model_uri, target):
    # As azure-ai-ml's _model_operations.download: the datastore is the segment before /paths,
    # the blob prefix what follows paths/.
    before, path = model_uri.split("/paths/", 1)
    datastore = client.datastores.get(rg, ws, before.rsplit("/", 1)[-1])
    secrets = client.datastores.list_secrets(rg, ws, datastore["name"])
    props = datastore["properties"]
    account_url = f"{base}/{props['accountName']}.blob.{props['endpoint']}"
    storage = BlobStorageClient(secrets["sasToken"], account_url, props["containerName"])
    storage.download(starts_with=path, destination=target)
    files = {}
    for root, _, names in os.walk(target):
        for name in names:
            full = os.path.join(root, name)
            with open(full, "rb") as f:
                files[os.path.relpath(full, target)] = hashlib.sha256(f.read()).hexdigest()
    return files


versions = []
for v in client.model_versions.list(rg, ws, model):
    entry = {
        "version": v["name"],
        "modelType": v["properties"]["modelType"],
        "modelUri": v["properties"]["modelUri"],
        "tags": v["properties"]["tags"],
    }
    if dest:
        entry["files"] = download(entry["modelUri"], os.path.join(dest, entry["version"]))
    versions.append(entry)
print(json.dumps(versions))
