"""
The built-in commands, published as plugins like any third-party command.

Public API: none (the commands are the wire API, in docs/protocol.md).
"""

from ftpkit.commands.catalog import Commands
from ftpkit.commands.get import Get
from ftpkit.commands.login import Login, Logout, Quit
from ftpkit.commands.ls import Ls, Stat
from ftpkit.commands.navigate import Cd, Pwd
from ftpkit.commands.organise import Mkdir, Mv, Rm, Rmdir
from ftpkit.commands.put import Put
from ftpkit.commands.quota import Quota

login = Login()
logout = Logout()
quit = Quit()
commands = Commands()
pwd = Pwd()
cd = Cd()
ls = Ls()
stat = Stat()
mkdir = Mkdir()
rmdir = Rmdir()
rm = Rm()
mv = Mv()
quota = Quota()
put = Put()
get = Get()
