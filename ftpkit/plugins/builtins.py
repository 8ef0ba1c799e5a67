"""The built-in commands, published as plugins like any third-party command."""

from ftpkit.commands.listing import Commands
from ftpkit.commands.login import Login, Logout, Quit

login = Login()
logout = Logout()
quit = Quit()
commands = Commands()
