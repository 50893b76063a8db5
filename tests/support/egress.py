"""The egress rules tests give explicitly: their origins listen on 127.0.0.0/8 only."""

from kvmcloud.protocol.agent_messages import EgressRules
from kvmcloud.protocol.egress import EgressPolicy

LOOPBACK = "127.0.0.0/8"
# What a command from the test server carries once the zone allows the loopback range.
LOOPBACK_RULES = EgressRules(allow=[LOOPBACK])
# The same, as the policy a DownloadRequest carries.
LOOPBACK_POLICY = EgressPolicy.parse(allow=[LOOPBACK])
# The zone-scoped setting the e2e fixtures and the demo set to LOOPBACK.
ALLOW_SETTING = "direct.download.egress.allow"
DENY_SETTING = "direct.download.egress.deny"
