"""fraudworld: a synthetic, bitemporal fraud world and the lessons built on it.

Every fact has two times: when it happened (``event_time``) and when the
system could know it (``reported_at``, ``available_at``). See the README for
the data contract.
"""

__version__ = "0.1.0"

from .config import ConfigError, WorldConfig, load_config, preset  # noqa: E402
from .world import World, generate  # noqa: E402
from .generation import write_world  # noqa: E402  (generate's twin on disk, on any engine)

__all__ = ["ConfigError", "World", "WorldConfig", "generate", "load_config", "preset", "write_world", "__version__"]
