"""OAuth 2.0 access tokens for logging in to the office's mail servers (IMAP and SMTP) with SASL XOAUTH2
or OAUTHBEARER: one provider per [oauth2] table (Microsoft 365 with msal, Google Workspace with
google-auth, or any RFC 6749 token endpoint), and a cache that refreshes a token before it expires.

It sits below sources/ and delivery/, which both log in with its tokens, and fetches over the network,
so the import-linter contracts let it use the network libraries.
"""
