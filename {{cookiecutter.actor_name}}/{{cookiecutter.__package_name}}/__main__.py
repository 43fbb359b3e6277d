from .engine.resumable import run_to_the_end
from .main import main

run_to_the_end(main)
