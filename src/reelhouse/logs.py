"""Log set-up: one line per event, ``event_name key=value ...``."""

import logging


def configure_logging(level: int = logging.INFO) -> None:
    logger = logging.getLogger("reelhouse")
    if logger.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
