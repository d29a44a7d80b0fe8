"""The command line: parse arguments, call one library function, print; a user's mistake is one line
on stderr and a non-zero exit.
"""
