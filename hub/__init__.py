"""Hub sync: push registry versions to a Hugging Face Hub repository and pull them back, verified.

A repository holds each version's files under ``modules/<kind>/<name>/v<N>/`` or ``routers/v<N>/``,
a ``manifest.json`` (sha256 and size of every file, lineage, backbone, config, metrics, aliases) and
a README model card. Pushing and pulling use huggingface_hub's client, imported only when called.
"""

from __future__ import annotations

from .errors import ContentError, HubError, ManifestError
from .pull import PullReport, pull
from .push import PushReport, push

__all__ = ["ContentError", "HubError", "ManifestError", "PullReport", "PushReport", "pull", "push"]
