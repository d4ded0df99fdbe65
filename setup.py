"""donkey: a SEMS-compatible DSM application server on Twisted and Sippy."""
from setuptools import find_packages, setup

setup(
    name="donkey",
    version="0.1.0",
    description="DonkeySM: SEMS-compatible DSM SIP application server on Twisted",
    license="BSD-2-Clause",
    python_requires=">=3.11",
    packages=find_packages(include=["donkey", "donkey.*"]) + ["twisted.plugins"],
    package_data={"donkey": ["data/*", "data/**/*"], "twisted": ["plugins/donkeysm.py"]},
    include_package_data=True,
    install_requires=[
        "twisted>=23.8",
        "sippy>=2.5",
        "pymysql>=1.1",
        "treq>=23.11",
        'audioop-lts; python_version >= "3.13"',
    ],
    extras_require={"test": []},
    entry_points={
        "console_scripts": [
            "donkeysm-check=donkey.dsm.cli:check_main",
            "donkeysm-run=donkey.dsm.cli:run_main",
        ],
    },
)
