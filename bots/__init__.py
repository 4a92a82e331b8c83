"""Bots that answer "who is this?" on chat services: LINE and Mastodon."""
