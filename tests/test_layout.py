"""The package's dependency direction: ops and utils are the bottom layer; datasets and models
never import each other."""
import ast
import glob
import os.path as osp

import pytest

from pt3kd_mm.testing import REPO

PKG = osp.join(REPO, 'pt3kd_mm')


def imported_subpackages(path):
    """The pt3kd_mm sub-packages a module imports (absolute or relative imports)."""
    module = osp.relpath(path, REPO)[:-3].replace(osp.sep, '.')
    package = module.rsplit('.', 1)[0] if not path.endswith('__init__.py') else module[:-9]
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                name = '.'.join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ''
            names = [name] + [f'{name}.{a.name}' for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split('.')
            if parts[0] == 'pt3kd_mm' and len(parts) > 1:
                found.add(parts[1])
    return found


FORBIDDEN = {
    'ops': {'models', 'datasets', 'evaluation', 'engine', 'utils'},
    'utils': {'models', 'datasets', 'evaluation', 'engine'},
    'datasets': {'models', 'evaluation', 'engine'},
    'models': {'datasets', 'evaluation', 'engine'},
    # pure rendering on numpy arrays; tools/visualize.py runs the models
    'visualization': {'models', 'datasets', 'evaluation', 'engine'},
}


@pytest.mark.parametrize('layer', sorted(FORBIDDEN))
def test_dependency_direction(layer):
    files = glob.glob(osp.join(PKG, layer, '**', '*.py'), recursive=True)
    assert files
    for path in files:
        bad = imported_subpackages(path) & FORBIDDEN[layer]
        assert not bad, f'{osp.relpath(path, REPO)} imports pt3kd_mm.{sorted(bad)}'


def test_the_check_sees_relative_imports(tmp_path):
    fake = osp.join(PKG, 'datasets', 'transforms', 'object_transforms.py')
    assert 'ops' in imported_subpackages(fake)
