"""Import every models module so Base.metadata knows all tables (Alembic, init)."""


def load_all() -> None:
    """Import the model modules; each registers its tables on Base.metadata."""
    from kvmcloud.server.accounts import models as accounts  # noqa: F401
    from kvmcloud.server.accounts import session_models as sessions  # noqa: F401
    from kvmcloud.server.certificates import models as certificates  # noqa: F401
    from kvmcloud.server.configuration import models as configuration  # noqa: F401
    from kvmcloud.server.events import models as events  # noqa: F401
    from kvmcloud.server.infrastructure import models as infrastructure  # noqa: F401
    from kvmcloud.server.jobs import models as jobs  # noqa: F401
    from kvmcloud.server.networks import models as networks  # noqa: F401
    from kvmcloud.server.offerings import models as offerings  # noqa: F401
    from kvmcloud.server.templates import models as templates  # noqa: F401
    from kvmcloud.server.vms import models as vms  # noqa: F401
