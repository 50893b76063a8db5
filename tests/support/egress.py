"""The egress rules tests give explicitly: their origins listen on loopback only."""

from kvmcloud.protocol.agent_messages import EgressRules
from kvmcloud.protocol.egress import EgressPolicy

# ::1 too: where /etc/hosts maps localhost to both, a URL on "localhost" has both addresses.
LOOPBACK_ENTRIES = ["127.0.0.0/8", "::1"]
# The value of the setting that allows them, as the e2e fixtures and the demo set it.
LOOPBACK = ",".join(LOOPBACK_ENTRIES)
# What a command from the test server carries once the zone allows loopback.
LOOPBACK_RULES = EgressRules(allow=LOOPBACK_ENTRIES)
# The same, as the policy a DownloadRequest carries.
LOOPBACK_POLICY = EgressPolicy.parse(allow=LOOPBACK_ENTRIES)
# The zone-scoped settings.
ALLOW_SETTING = "direct.download.egress.allow"
DENY_SETTING = "direct.download.egress.deny"
