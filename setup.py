from setuptools import find_packages, setup

setup(
    name="ftpkit",
    version="0.1.0",
    description="A multi-user file server on Twisted: framed protocol, command plugins, quotas.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    # twisted.plugins has no __init__.py on purpose: it is Twisted's plugin directory.
    packages=find_packages(include=["ftpkit", "ftpkit.*"]) + ["twisted.plugins"],
    # An explicit root package dir makes `pip install -e .` put this directory on
    # sys.path (a plain .pth) instead of an import hook, so that Twisted's plugin
    # scan of sys.path finds twisted/plugins/ftpkit_plugin.py in editable installs.
    package_dir={"": "."},
    package_data={"twisted.plugins": ["ftpkit_plugin.py"]},
    install_requires=[
        "twisted[tls]>=24.3",
        "zope.interface>=6",
        "attrs>=23.1",
        "argon2-cffi>=23.1",
        "blake3>=1.0",
        "rich>=13",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "hypothesis>=6.100",
            "ruff>=0.6",
            "mypy>=1.10",
            "mypy-zope>=1.0",
            "setuptools>=70.1",  # the install tests build ftpkit without build isolation
        ],
        "bench": ["pyftpdlib>=2"],
    },
    entry_points={
        "console_scripts": [
            "ftpkit = ftpkit.cli.client:main",
            "ftpkit-admin = ftpkit.cli.admin:main",
        ],
    },
)
