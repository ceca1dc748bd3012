"""``python -m cnnzoo.config > docs/configuration.md``"""

from .reference import reference_markdown

print(reference_markdown())
