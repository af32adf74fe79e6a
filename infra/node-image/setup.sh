#!/usr/bin/env bash
# Turns an Amazon Linux 2023 (x86_64) instance into a Hangar node image; Packer runs it as
# root with this directory at /tmp/node-image and the agent binary at /tmp/hangar-agent.
set -euo pipefail

here=/tmp/node-image

# git for the workspaces' clones, iptables for the metadata guard, useradd for the
# workspaces' users, Node.js for the default ACP agent.
dnf install -y git iptables-nft shadow-utils nodejs npm
# The default ACP agent (a project may name another: codex-acp, gemini --experimental-acp),
# under its current name and the one the stack's NodeAcpCommand defaults to.
npm install -g @zed-industries/claude-agent-acp
ln -sf "$(command -v claude-agent-acp)" /usr/local/bin/claude-code-acp

install -m 0755 /tmp/hangar-agent /usr/local/bin/hangar-agent
install -d -m 0755 /usr/local/libexec/hangar
install -m 0755 "$here/imds-guard" /usr/local/libexec/hangar/
install -d -m 0700 /etc/hangar
install -m 0644 "$here/hangar-agent.service" "$here/hangar-node-env.service" \
  "$here/hangar-imds-guard.service" /etc/systemd/system/
systemctl daemon-reload
# The guard from the first boot on. The agent is started by the user data once its
# configuration is written, and pulls in hangar-node-env first (Requires=, After=).
systemctl enable hangar-imds-guard.service
