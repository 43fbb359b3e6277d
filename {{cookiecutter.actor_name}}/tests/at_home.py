"""Test-only entry point: the Actor, unchanged, as on the platform (APIFY_IS_AT_HOME=1, see
platform_standin.py) but with its storages on the local file system instead of the Apify API."""

import asyncio
import importlib
import os
import sys

from apify.storage_clients import SmartApifyStorageClient
from apify.storage_clients._file_system import ApifyFileSystemStorageClient
from crawlee import service_locator

sys.path.insert(0, os.getcwd())  # the project root, where the Actor's package is
from harness import package_name

file_system = ApifyFileSystemStorageClient()
service_locator.set_storage_client(
    SmartApifyStorageClient(cloud_storage_client=file_system, local_storage_client=file_system)
)
asyncio.run(importlib.import_module(f"{package_name()}.main").main())
