"""A Java runtime for the Spark tests: the system's, or Debian's, installed when missing.

Spark needs Java 17 or later (linkage.spark.java_command says which one it would start);
`ensure_java` installs a headless JRE with apt-get when there is none, as tests/browser.py
does for chromium, so `make test` runs the Spark tests on a fresh machine too.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from linkage.spark import java_command
from migralink.errors import LinkageError

# The first that the distribution has: Debian 11 and 12 and Ubuntu 22.04 ship 17; later
# releases may only ship 21 (Spark 4 runs on both)
JRE_PACKAGES = ("openjdk-17-jre-headless", "openjdk-21-jre-headless")


def ensure_java() -> str:
    """Path of the java Spark will start, installing a JRE with apt-get when there is none
    (or only one older than Java 17)."""
    try:
        return java_command()
    except LinkageError as missing:
        reason = str(missing)
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if sudo and shutil.which("sudo") is None:
        pytest.fail(f"{reason}, and apt-get needs root: run `apt-get install "
                    f"{JRE_PACKAGES[0]}` first")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    output = ""
    done = subprocess.run([*sudo, "apt-get", "update"], env=env, capture_output=True, text=True)
    output += done.stdout + done.stderr
    for package in JRE_PACKAGES:
        done = subprocess.run([*sudo, "apt-get", "install", "-y", "--no-install-recommends",
                               package], env=env, capture_output=True, text=True)
        output += done.stdout + done.stderr
        if done.returncode == 0:
            break
    try:
        return java_command()
    except LinkageError as still:
        tail = "\n".join(output.splitlines()[-20:])
        pytest.fail(f"could not install a Java runtime ({still}):\n{tail}")
