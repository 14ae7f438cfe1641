# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options every module of the collection shares (module_utils/wizard.py declares them)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  postfix_dir:
    description: Postfix's configuration directory on the target (the wizard's default, C(/etc/postfix)).
    type: path
  dovecot_dir:
    description: Dovecot's configuration directory on the target (default C(/etc/dovecot)).
    type: path
  backup_dir:
    description: Where the backup sets are kept on the target (default C(/var/backups/postfix-wizard)).
    type: path
  executable:
    description: The wizard on the target.
    type: str
    default: postfix-wizard
attributes:
  check_mode:
    description: Can run in check mode and tell what it would change, changing nothing.
    support: full
author:
  - postfix-wizard developers (!UNKNOWN)
"""

    LIVE = r"""
options:
  reload:
    description: Reload Postfix and Dovecot after writing (the live check needs it).
    type: bool
    default: true
  probe:
    description: After the reload, check the live server over SMTP and in its logs.
    type: bool
    default: true
"""
