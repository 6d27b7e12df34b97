"""Package layout: the top-level folders install under vgen_* names so that they never collide in site-packages.

plugins/ -> vgen_plugins, export/ -> vgen_export, recipes/ -> vgen_recipes (metadata lives in pyproject.toml).
"""

from setuptools import find_packages, setup

FOLDERS = {"vgen": "vgen", "vgen_plugins": "plugins", "vgen_export": "export", "vgen_recipes": "recipes"}

packages, package_dir = [], {}
for name, folder in FOLDERS.items():
    package_dir[name] = folder
    packages += [name] + [f"{name}.{sub}" for sub in find_packages(folder)]

setup(packages=packages, package_dir=package_dir)
