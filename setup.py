import os.path as osp

from setuptools import find_packages, setup


def read_requirements(name: str) -> list:
    path = osp.join(osp.dirname(__file__), 'requirements', name)
    with open(path) as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.startswith('#')]


version = {}
with open(osp.join(osp.dirname(__file__), 'pt3kd_mm', 'version.py')) as f:
    exec(f.read(), version)

setup(
    name='pt3kd_mm',
    version=version['__version__'],
    description='Point-cloud transformer pre-training with 2D knowledge distillation, '
    'an OpenMMLab (MMDetection3D) plugin',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'tests.*', 'benchmarks')),
    python_requires='>=3.8',
    install_requires=read_requirements('runtime.txt') + read_requirements('mminstall.txt'),
    extras_require={'tests': read_requirements('tests.txt')},
    zip_safe=False,
)
