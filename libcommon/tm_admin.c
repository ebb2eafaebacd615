/* tm_admin: implementation pending */
