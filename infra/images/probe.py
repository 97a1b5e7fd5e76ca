#!/usr/bin/python3 -IS
"""Container health probe: exit 0 when URL answers with one of the accepted status codes.

Usage: mlops-probe URL [CODE ...]   (default: any 2xx)
"""

import sys
import urllib.error
import urllib.request


def main() -> int:
    url, accepted = sys.argv[1], {int(code) for code in sys.argv[2:]}
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            code = response.status
    except urllib.error.HTTPError as err:
        code = err.code
    except OSError:
        return 1
    return 0 if (code in accepted if accepted else 200 <= code < 300) else 1


if __name__ == "__main__":
    sys.exit(main())
