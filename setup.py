"""donkey: a SEMS-compatible DSM application server on Twisted and Sippy."""
from setuptools import find_packages, setup

setup(
    name="donkey",
    version="0.1.0",
    description="DonkeySM: SEMS-compatible DSM SIP application server on Twisted",
    license="BSD-2-Clause",
    python_requires=">=3.11",
    packages=find_packages(include=["donkey", "donkey.*", "tools"]) + [
        "twisted.plugins", "donkey.conf"],
    package_dir={"donkey.conf": "conf"},
    package_data={
        "donkey.conf": ["*.conf", "etc/*.conf", "dsm/*.conf", "dsm/*.dsm", "dsm/*/*.dsm", "sipp/*.xml",
                        "dsm/*/prompts/*.wav"],
        "twisted": ["plugins/donkeysm.py"],
    },
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
            "sems-list-calls=tools.list_calls:main",
            "sems-list-active-calls=tools.list_active_calls:main",
            "sems-list-finished-calls=tools.list_finished_calls:main",
            "sems-get-callproperties=tools.get_callproperties:main",
            "donkey-reload-config=tools.reload_config:main",
        ],
    },
)
