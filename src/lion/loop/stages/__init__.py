"""loop/stages"""
