"""Labelling in the browser: people compare two looping GIFs of segments and label them.

* :mod:`prefrl.labeling.app`: the FastAPI app (page, JSON API, clips);
* :mod:`prefrl.labeling.worker`: renders the segments people will see, ahead of time;
* :mod:`prefrl.labeling.assign`: which labeler gets which query; stats and agreement;
* :mod:`prefrl.labeling.gold`: gold queries with a clear answer, to measure labelers;
* :mod:`prefrl.labeling.server`: uvicorn serving, the token rule, :class:`HumanTeacher`.
"""

from prefrl.labeling.app import LabelingApp, PageConfig
from prefrl.labeling.gold import add_gold_queries
from prefrl.labeling.server import HumanTeacher, LabelServer, launch_page

__all__ = ["HumanTeacher", "LabelServer", "LabelingApp", "PageConfig", "add_gold_queries", "launch_page"]
