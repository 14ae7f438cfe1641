"""Lossless reader and editor for Dovecot 2.3 and 2.4 configuration.

A file is kept as its raw lines; the tree built over them only records where each setting,
section and !include lives, so rendering an unedited file gives back the exact bytes. Edits
splice new lines in and never touch the others.

- tree: the tree types (Setting, Include, Section, DovecotFile);
- parser: text to tree, the grammar Dovecot 2.3 and 2.4 share;
- dialects: what differs between 2.3 and 2.4, and the marks that tell them apart;
- config: DovecotConfig, a root file and its includes: generation checks and queries;
- editor: the requested changes, their checks, and the edit DovecotConfig.edit makes;
- splice: the line surgery an edit is made of.

The names below are the ones code outside the package uses.
"""

from __future__ import annotations

from wizard.files.dovecot.config import DovecotConfig, Listener
from wizard.files.dovecot.editor import SASL_LISTENER_NAME, InetListenerRequest, UnixListenerRequest
from wizard.files.dovecot.parser import parse
from wizard.files.dovecot.tree import Setting

__all__ = ["SASL_LISTENER_NAME", "DovecotConfig", "InetListenerRequest", "Listener", "Setting",
           "UnixListenerRequest", "parse"]
