"""What the ARM conformance scripts share: the stand-in's URL and test principal from the command
line (BASE_URL TENANT CLIENT_ID SECRET SUBSCRIPTION), and official clients made for it, changing
only the endpoint, the token scope and instance discovery (the CA bundle comes from
REQUESTS_CA_BUNDLE)."""

import sys

from azure.identity import ClientSecretCredential


class StandIn:
    def __init__(self, argv=None):
        base, tenant, client_id, secret, subscription = (argv or sys.argv)[1:6]
        self.base = base
        self.subscription = subscription
        self.credential = ClientSecretCredential(
            tenant, client_id, secret, authority=base, disable_instance_discovery=True
        )

    def client(self, cls, **kwargs):
        """An official management client pointed at the stand-in."""
        return cls(
            self.credential,
            self.subscription,
            base_url=self.base,
            credential_scopes=[self.base + "/.default"],
            **kwargs,
        )
