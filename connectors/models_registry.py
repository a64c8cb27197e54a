"""Imports every SQLAlchemy model module so ``Base.metadata`` knows all tables."""

from connectors.agents import models as _agents  # noqa: F401
from connectors.cases import models as _cases  # noqa: F401
from connectors.conversations import models as _conversations  # noqa: F401
from connectors.handoff import models as _handoff  # noqa: F401
from connectors.identity import models as _identity  # noqa: F401
from connectors.hotline12345 import models as _hotline12345  # noqa: F401
from connectors.feedback import models as _feedback  # noqa: F401
