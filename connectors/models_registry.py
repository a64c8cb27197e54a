"""Imports every SQLAlchemy model module so ``Base.metadata`` knows all tables."""

from connectors.cases import models as _cases  # noqa: F401
from connectors.conversations import models as _conversations  # noqa: F401
from connectors.handoff import models as _handoff  # noqa: F401
