# Sourced by the scripts: finds a Python 3.13 interpreter that really runs.
# Order: a working python3.13 on PATH, then pyenv's newest 3.13.x.
find_python313() {
  local candidate
  if candidate=$(command -v python3.13 2>/dev/null) && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1; then
    echo "$candidate"
    return 0
  fi
  if command -v pyenv >/dev/null 2>&1; then
    local root version
    root=$(pyenv root)
    for version in $(ls -1 "$root/versions" 2>/dev/null | grep -E '^3\.13\.[0-9]+$' | sort -t. -k3 -n -r); do
      candidate="$root/versions/$version/bin/python3"
      if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' >/dev/null 2>&1; then
        echo "$candidate"
        return 0
      fi
    done
  fi
  echo "error: Python 3.13 not found. Install it (e.g. 'pyenv install 3.13' or your distribution's python3.13) and run this again." >&2
  return 1
}
