from .main import main
from .resumable import run_to_the_end

run_to_the_end(main)
