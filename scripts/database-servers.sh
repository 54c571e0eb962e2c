#!/usr/bin/env bash
# Installs the database servers the script tests run the program's backup/restore scripts against: PostgreSQL
# and MariaDB from the Debian packages (not started as services; the tests start their own on loopback ports).
set -euo pipefail
if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && [ -x /usr/sbin/mariadbd ]; then
  exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
echo "installing PostgreSQL and MariaDB (Debian packages)"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# A policy-rc.d that refuses keeps the packages from starting their system services (an existing one is kept).
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
fi
$sudo apt-get install -y -qq --no-install-recommends postgresql mariadb-server mariadb-client >/dev/null
