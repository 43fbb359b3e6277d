"""Test-only entry point: the Actor, unchanged, as on the platform (APIFY_IS_AT_HOME=1, see
platform_standin.py): events over the stand-in's websocket, storages through the SDK's own Apify storage
client against the stand-in's storage API. Locally too, for a run with a test's own router (TEST_ROUTES)."""

import os
import sys

sys.path.insert(0, os.getcwd())  # the project root, where the Actor's package is
from harness import run_main_of_the_actor

run_main_of_the_actor()
