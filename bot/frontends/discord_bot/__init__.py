"""The Discord front end of newsbot (``python -m bot run``).

``client.NewsBot`` is the bot (default intents, no mentions allowed, command sync policy),
``cog.QuestionsCog`` its commands and listeners, ``views`` how clicks reach their view and
expire, ``answer_view`` the buttons under an answer, ``rating`` votes on answers,
``formatting`` the pure Answer → embed functions, ``guards`` cooldowns and permissions,
``runner`` start-up and shutdown. Imported lazily by the CLI, so the core never depends on
discord.py.
"""
