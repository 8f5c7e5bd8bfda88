import pytest
from mmengine.registry import init_default_scope

import pt3kd_mm  # noqa: F401  (registers modules)

init_default_scope('mmdet3d')


@pytest.fixture(scope='session')
def demo_root(tmp_path_factory):
    """A small demo dataset in the ShapeNet-55 layout (6 classes, 3 train + 1 test each)."""
    from pt3kd_mm.testing import create_demo_data
    root = str(tmp_path_factory.mktemp('demo_shapenet'))
    create_demo_data(root, train_per_class=3, test_per_class=1, num_points=512, seed=0)
    return root


@pytest.fixture(scope='session')
def modelnet_root(tmp_path_factory):
    """The demo classes in the ModelNet40 layout (3 train + 2 test shapes each, 1100 points)."""
    from pt3kd_mm.testing import create_modelnet40_demo
    root = str(tmp_path_factory.mktemp('demo_modelnet') / 'modelnet40_normal_resampled')
    create_modelnet40_demo(root, per_class_train=3, per_class_test=2, num_points=1100, seed=0)
    return root


@pytest.fixture
def chromium():
    """Debian's headless chromium (its path), or the test is skipped with the named reason."""
    from pt3kd_mm.testing.browser import CHROMIUM_MISSING, chromium_binary
    path = chromium_binary()
    if path is None:
        pytest.skip(CHROMIUM_MISSING)
    return path
