"""Name pools by origin (Zipf-like frequencies) and the spelling noise agencies introduce.

Pools are ordered from most to least common; population.py turns the order into a
Zipf-like distribution. Variant spellings follow French transliteration habits (DOMAIN.md).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from benchmarks.synth.draws import Stream

# --- Pools ---------------------------------------------------------------------------------


def _split(text: str) -> list[str]:
    """A comma-separated pool, most common first."""
    return [" ".join(name.split()) for name in text.split(",") if name.strip()]


MAGHREB_MALE = _split("""
Mohamed, Ahmed, Said, Abdellah, Mustapha, Rachid, Hassan, Youssef, Abdelaziz,
Hamid, Driss, Khalid, Abderrahim, Abdelkader, Karim, Mohamed Amine, Omar, Hicham, Aziz, Brahim,
Lahcen, Mhamed, Noureddine, Abdeslam, Jamal, Mehdi, Ayoub, Hamza, Anas, Othmane, Adil, Samir,
Nabil, Tarik, Reda, Yassine, Ismail, Soufiane, Zakaria, Abdelhak, Abdelilah, Abdelghani, Mounir,
Larbi, Miloud, Bouchaib, Lhoussaine, Ali, Kamal, Fouad, Abdelmajid, Abdelhamid, Abderrahmane,
Abdennour, Ilyas, Amine, Badr, Ghali, Taha, Walid, Younes, Hakim, Abdelali, Jawad, Mouad,
Saad, Chakib, Idriss, Elmahdi, Abdelouahed""")

MAGHREB_FEMALE = _split("""
Fatima, Khadija, Aicha, Naima, Zineb, Fatima Zahra, Malika, Rachida, Saida,
Hafida, Latifa, Samira, Nadia, Meryem, Zahra, Hanane, Souad, Karima, Amina, Salma, Loubna,
Siham, Asmae, Hajar, Imane, Kaoutar, Sanae, Houda, Ghizlane, Wafae, Nawal, Mina, Itto, Touria,
Hasna, Ilham, Fadwa, Btissam, Nezha, Jamila, Rkia, Yamna, Chaimae, Oumaima, Hind, Laila, Sara,
Ikram, Khaoula, Yasmine, Hayat, Mouna, Fatiha, Habiba, Zoubida""")

MOROCCAN_FAMILY = _split("""
El Idrissi, Alaoui, Bennani, Ben Ali, El Amrani, Ouazzani, Tazi, Berrada,
Chraibi, Ettaoussi, El Fassi, Benjelloun, Benkirane, El Alami, Lahlou, Sqalli, Kettani, Filali,
El Mansouri, Benmoussa, El Ouardi, Ziani, Benchekroun, Bouzidi, El Khatib, Cherkaoui, Lamrani,
Belhaj, El Hachimi, Naciri, Zerouali, Benabdellah, Slaoui, Rahmouni, El Ghazi, Mouline, Sebti,
Guessous, Lazrak, Chaoui, Bouazza, Moussaoui, Rifi, Doukkali, Hamdaoui, El Bakkali, Kabbaj,
Essaidi, Ennaji, Erradi, Boukhari, El Hamri, Raji, Karimi, El Ouafi, Boutaleb, Laaroussi,
Ghazouani, Jabri, El Khayat, Fikri, Hamidi, Bensaid, Ait Ben Haddou, Ouahmane, Amzil, Ait Ali,
Ait Lahcen, Ait Oumghar, Akhannouch, Amghar, Oubaha, Ait Baha, Ait Taleb, Ouchen, Amellal,
Id Belkacem, Ait Brahim, Aznag, Ouhammou, Boudlal, Akdim, Oufkir, Azzouzi, Ait Hammou, Afkir,
Agourram, Assou, Oubella, Ould Ahmed, Ould Sidi, Soussi, Marrakchi, Tadlaoui, Meknassi,
Tanjaoui, Oujdi, Zemmouri, Ghomari, Regragui, Chafik, Mernissi, Sefrioui, Bouhlal, Haddaoui,
El Yazidi, Lahrichi, Skouri, Benslimane, El Kadiri, Bouchta, Hajji, Tahiri, Sabri, Nejjar,
Jaafari, El Ghali""")

MAGHREB_EAST_FAMILY = _split("""
Benali, Boudiaf, Belkacem, Hamdi, Trabelsi, Jebali, Ben Salah, Bouazizi,
Mansouri, Gharbi, Saidi, Chaabane, Zeroual, Messaoudi, Brahimi, Khelifi, Hadj Ali, Ben Youssef,
Mejri, Dridi, Ayari, Jlassi, Hammami, Bouzid, Meziane, Belaid, Ferhat, Slimani, Boumediene,
Cherif, Ben Amor, Ghannouchi, Labidi, Sassi, Bensalem, Djebbar""")

WEST_AFRICA_MALE = _split("""
Mamadou, Moussa, Ousmane, Abdoulaye, Ibrahima, Cheikh, Modou, Amadou,
Aliou, Boubacar, Souleymane, Lamine, Pape, Babacar, Alioune, Seydou, Oumar, Sekou, Mohamed,
Idrissa, Bakary, Malick, Assane, Adama, Issa, Daouda, Samba, Demba, Mamadou Lamine,
El Hadji""")

WEST_AFRICA_FEMALE = _split("""
Aminata, Fatou, Awa, Mariama, Aissatou, Khady, Ndeye, Coumba, Rokhaya,
Bineta, Astou, Kadiatou, Oumou, Fatoumata, Hawa, Mariam, Djeneba, Kadidia, Saly, Maimouna,
Dieynaba, Penda, Adama""")

SENEGAL_FAMILY = _split("""
Diop, Ndiaye, Fall, Sow, Diallo, Ba, Mbaye, Gueye, Faye, Sarr, Seck, Niang,
Sy, Thiam, Kane, Cisse, Ndour, Diouf, Sene, Mbengue, Dieng, Wade, Sall, Toure, Diagne, Lo,
Sylla, Ndao""")

GUINEA_FAMILY = _split("""
Diallo, Bah, Barry, Camara, Sylla, Conde, Soumah, Bangoura, Toure, Kaba,
Keita, Sow, Balde, Kourouma, Cisse, Doumbouya, Sidibe, Traore, Kante, Fofana""")

MALI_FAMILY = _split("""
Keita, Traore, Coulibaly, Diarra, Kone, Sangare, Dembele, Sidibe, Maiga, Toure,
Diakite, Sissoko, Doumbia, Konate, Cisse, Tounkara, Samake, Kante, Ballo, Dicko""")

IVORIAN_MALE = _split("""
Kouassi, Kouadio, Konan, Yao, Koffi, Kouame, N'Guessan, Kouakou, Jean-Baptiste,
Serge, Didier, Arsène, Franck, Hervé, Ange, Cédric, Souleymane, Drissa, Lassina,
Yacouba""")

IVORIAN_FEMALE = _split("""
Aya, Adjoua, Affoue, Amenan, Akissi, Amoin, Ahou, Marie-Claire, Christelle,
Prisca, Nadège, Rosine, Mariam, Fanta, Salimata""")

IVORIAN_FAMILY = _split("""
Kone, Ouattara, Bamba, Kouame, Kouassi, Yao, Coulibaly, Traore, N'Guessan,
Kouakou, Brou, Koffi, Konan, Soro, Diabate, Fofana, Tra, Gnagne, Aka, Assi, Yeo, Silue, Toure,
Doumbia, Kacou, Amani""")

FRENCH_MALE = _split("""
Jean, Pierre, Michel, Philippe, Nicolas, Thomas, Julien, Laurent, Jérôme,
François, Alain, Patrick, Christophe, Sébastien, Antoine, Mathieu, Olivier, Éric, Guillaume,
Hugo, Lucas, Maxime, Romain, Benoît, Gérard""")

FRENCH_FEMALE = _split("""
Marie, Camille, Hélène, Sophie, Nathalie, Isabelle, Céline, Julie, Aurélie,
Sandrine, Claire, Émilie, Léa, Manon, Chloé, Anne, Françoise, Véronique, Élodie,
Margaux""")

FRENCH_FAMILY = _split("""
Martin, Bernard, Dubois, Thomas, Robert, Richard, Petit, Durand, Leroy, Moreau,
Simon, Laurent, Lefèvre, Michel, Garcia, David, Bertrand, Roux, Vincent, Fournier, Morel,
Girard, André, Mercier, Dupont, Lambert, Bonnet, François, Martinez, Legrand, Garnier, Faure,
Rousseau, Blanc, Guérin, Muller, Henry, Roussel, Nicolas, Perrin, Mathieu, Clément, Gauthier,
Dumont, Lopez, Fontaine, Chevalier, Robin, Masson, Sanchez, Lemaire, Duval, Joly, Gaillard,
Barbier, Arnaud, Martel, Roche, Renard, Schmitt, Roy, Leroux, Colin, Vidal, Caron, Picard,
Roger, Fabre, Aubert, Lemoine, Renaud, Dumas, Lacroix, Olivier, Bourgeois, Rey, Leclerc, Payet,
Rolland, Leclercq, Guillaume, Lecomte, Dupuy, Guillot, Hubert, Berger, Carpentier, Dupuis,
Moulin, Louis, Deschamps, Huet, Vasseur, Boucher, Fleury, Royer, Klein, Jacquet, Adam, Paris,
Poirier, Marty, Aubry, Guyot, Carré, Charles, Renault, Charpentier, Ménard, Maillard, Baron,
Bertin, Bailly, Schneider, Le Gall, Collet, Léger, Bouvier, Prévost, Millet, Perrot, Cousin,
Germain, Breton, Besson, Langlois, Rémy, Le Goff, Pelletier, Lévêque, Perrier, Leblanc, Barré,
Lebrun, Marchal, Weber, Mallet, Hamon, Boulanger, Jacob, Monnier, Michaud, Guichard, Gillet,
Étienne, Poulain, Tessier, Chauvin, Bouchet, Lemaître, Humbert""")

SYRIAN_MALE = _split("""
Mohammad, Ahmad, Omar, Khaled, Ali, Hussein, Mahmoud, Ibrahim, Abdullah, Hassan,
Yousef, Bilal, Samer, Rami, Fadi, Tarek, Ayman""")

SYRIAN_FEMALE = _split("""
Lina, Rania, Fatima, Sara, Hiba, Rasha, Noor, Maya, Reem, Dima, Aya, Zeinab,
Huda""")

SYRIAN_FAMILY = _split("""
Al Hassan, Haddad, Khoury, Al Ahmad, Al Ali, Al Hussein, Al Khatib, Hamdan,
Al Masri, Al Halabi, Kassem, Al Omar, Najjar, Al Shami, Sabbagh, Darwish, Al Zoubi, Issa,
Mansour, Al Sayed, Al Abdullah, Kanaan, Shaker, Al Rifai""")

SPANISH_MALE = _split("""
José, Antonio, Manuel, Francisco, David, Javier, Juan, Carlos, Miguel,
Alejandro, Pablo, Sergio""")
SPANISH_FEMALE = _split("""
María, Carmen, Ana, Laura, Lucía, Marta, Isabel, Cristina, Elena,
Pilar""")
SPANISH_FAMILY = _split("""
García, Rodríguez, González, Fernández, López, Martínez, Sánchez, Pérez,
Gómez, Martín, Jiménez, Ruiz, Hernández, Díaz, Moreno, Muñoz, Álvarez, Romero, Navarro,
Torres""")

ITALIAN_MALE = _split("""
Marco, Giuseppe, Giovanni, Luca, Andrea, Francesco, Alessandro, Matteo,
Stefano, Paolo""")
ITALIAN_FEMALE = _split("""
Giulia, Francesca, Chiara, Sara, Valentina, Federica, Elena,
Martina""")
ITALIAN_FAMILY = _split("""
Rossi, Russo, Ferrari, Esposito, Bianchi, Romano, Colombo, Ricci, Marino,
Greco, Bruno, Gallo, Conti, De Luca, Costa""")

CHINESE_MALE = _split("Wei, Jun, Lei, Yong, Jie, Tao, Ming, Hao, Qiang, Jian")
CHINESE_FEMALE = _split("Li, Fang, Jing, Min, Yan, Ying, Xiu, Hui, Na, Lin")
CHINESE_FAMILY = _split("""
Wang, Li, Zhang, Liu, Chen, Yang, Huang, Zhao, Wu, Zhou, Xu, Sun, Ma, Zhu,
Hu""")

CENTRAL_AFRICA_MALE = _split("""
Jean-Pierre, Emmanuel, Serge, Patrick, Joseph, Blaise, Rodrigue,
Christian, Junior, Franck, Samuel, Olivier, Aimé, Trésor, Glody""")
CENTRAL_AFRICA_FEMALE = _split("""
Christelle, Grace, Patience, Carine, Mireille, Sandrine, Josiane,
Chantal, Nadège, Esther, Ornella, Merveille""")
CAMEROON_FAMILY = _split("""
Mbarga, Nguema, Fotso, Kamga, Tchoumi, Essomba, Atangana, Ndongo, Owona,
Mballa, Nkoulou, Tchatchoua, Ngono, Abena, Manga, Mvondo, Nana, Tagne, Kengne, Eto'o""")
CONGO_FAMILY = _split("""
Ilunga, Kabongo, Mukendi, Tshibangu, Kalala, Mbuyi, Ngoy, Kasongo, Lukusa,
Mutombo, Kabila, Mulumba, Tshimanga, Kapinga, Banza, Nsimba, Makiese, Lokwa, Mwamba,
Kayembe""")

NIGERIAN_MALE = _split("""
Chinedu, Emeka, Oluwaseun, Tunde, Ifeanyi, Musa, Abubakar, Chukwuma, Olumide,
Segun, Ikechukwu, Babatunde""")
NIGERIAN_FEMALE = _split("""
Blessing, Ngozi, Chioma, Aisha, Funmilayo, Amaka, Folake, Adaeze, Zainab,
Yetunde""")
NIGERIAN_FAMILY = _split("""
Okafor, Okeke, Adeyemi, Eze, Nwosu, Okonkwo, Adebayo, Bello, Abubakar,
Ibrahim, Ogunleye, Olawale, Nwachukwu, Onyeka, Balogun""")


def _clean(pool: list[str]) -> tuple[str, ...]:
    """Distinct names, first occurrence kept (order is frequency rank)."""
    return tuple(dict.fromkeys(pool))


# Roots of nisba family names (El Amri, Amrani, Amraoui...) and Amazigh given names
# (Ait Hammou, Ouhammou): combined below into the long tail of Moroccan family names.
NISBA_ROOTS = _split("""
Amr, Alam, Mansour, Ouard, Khatib, Hachim, Ghaz, Bakkal, Hamr, Ouaf, Kadir, Yazid, Tahir, Jabr,
Hamid, Karim, Sabr, Fikr, Hajj, Saad, Kamal, Hassan, Abbas, Azz, Rahm, Salh, Zahr, Fath, Nour,
Najj, Hakim, Halim, Jamal, Sadk, Malk, Kass, Bark, Habib, Hafid, Jaafar, Khal, Mahd, Mekk,
Merr, Nass, Omar, Rif, Sebt, Slim, Soub, Tabb, Taib, Wahb, Zain, Bahr, Bekk, Chadl, Derk, Fadl,
Ghan, Harr, Idr, Jell, Kerk, Labb, Marz, Naim, Nadr, Oual, Rabb, Rahal, Saf, Sahr, Tarf, Tij,
Zitoun, Ghoul, Jazoul, Kabb, Mzab, Ouaz, Semm, Doukk, Sous, Tadl, Zemm, Ghom, Drou, Hilal,
Chrif, Filal, Kouch, Lamt, Menn, Quar, Raïs, Sqal, Tlemc""")
AMAZIGH_GIVEN = _split("""
Hammou, Moha, Haddou, Assou, Mimoun, Idir, Akka, Bassou, Lahcen, Brahim, Ali, Said, Omar,
Taleb, Belkacem, Driss, Lhou, Addi, Ichou, Youssef, Yahya, Baha, Oumghar, Hmad, Aissa""")


def _moroccan_family() -> tuple[str, ...]:
    """Hand list (most common first), then generated patronyms and nisbas: the long tail."""
    givens = [g for g in _clean(MAGHREB_MALE) if " " not in g]
    amazigh = _clean(AMAZIGH_GIVEN)
    tail = [f"Ben {g}" for g in givens] + [f"Ait {g}" for g in amazigh]
    tail += [f"Ou{g.lower()}" for g in amazigh] + [f"Bou{r.lower()}" for r in NISBA_ROOTS]
    for root in NISBA_ROOTS:
        tail += [f"El {root}i", f"{root}i", f"{root}ani", f"{root}aoui"]
    return tuple(dict.fromkeys([*MOROCCAN_FAMILY, *tail]))


@dataclass(frozen=True)
class NameOrigin:
    """Given-name pools by sex, a family-name pool, and the spelling rules that apply."""

    male: tuple[str, ...]
    female: tuple[str, ...]
    family: tuple[str, ...]
    rules: str  # "arabic", "african", "european" or "none"


ORIGINS: dict[str, NameOrigin] = {
    "maghreb": NameOrigin(_clean(MAGHREB_MALE), _clean(MAGHREB_FEMALE), _moroccan_family(),
                          "arabic"),
    "maghreb_east": NameOrigin(_clean(MAGHREB_MALE), _clean(MAGHREB_FEMALE),
                               _clean(MAGHREB_EAST_FAMILY), "arabic"),
    "senegal": NameOrigin(_clean(WEST_AFRICA_MALE), _clean(WEST_AFRICA_FEMALE),
                          _clean(SENEGAL_FAMILY), "african"),
    "guinea": NameOrigin(_clean(WEST_AFRICA_MALE), _clean(WEST_AFRICA_FEMALE),
                         _clean(GUINEA_FAMILY), "african"),
    "mali": NameOrigin(_clean(WEST_AFRICA_MALE), _clean(WEST_AFRICA_FEMALE),
                       _clean(MALI_FAMILY), "african"),
    "ivorian": NameOrigin(_clean(IVORIAN_MALE), _clean(IVORIAN_FEMALE), _clean(IVORIAN_FAMILY),
                          "african"),
    "french": NameOrigin(_clean(FRENCH_MALE), _clean(FRENCH_FEMALE), _clean(FRENCH_FAMILY),
                         "european"),
    "syrian": NameOrigin(_clean(SYRIAN_MALE), _clean(SYRIAN_FEMALE), _clean(SYRIAN_FAMILY),
                         "arabic"),
    "spanish": NameOrigin(_clean(SPANISH_MALE), _clean(SPANISH_FEMALE), _clean(SPANISH_FAMILY),
                          "european"),
    "italian": NameOrigin(_clean(ITALIAN_MALE), _clean(ITALIAN_FEMALE), _clean(ITALIAN_FAMILY),
                          "european"),
    "chinese": NameOrigin(_clean(CHINESE_MALE), _clean(CHINESE_FEMALE), _clean(CHINESE_FAMILY),
                          "none"),
    "cameroon": NameOrigin(_clean(CENTRAL_AFRICA_MALE), _clean(CENTRAL_AFRICA_FEMALE),
                           _clean(CAMEROON_FAMILY), "african"),
    "congo": NameOrigin(_clean(CENTRAL_AFRICA_MALE), _clean(CENTRAL_AFRICA_FEMALE),
                        _clean(CONGO_FAMILY), "african"),
    "nigerian": NameOrigin(_clean(NIGERIAN_MALE), _clean(NIGERIAN_FEMALE),
                           _clean(NIGERIAN_FAMILY), "african"),
}

# Name origin by nationality; French citizens of Maghreb descent carry Maghreb names.
NATIONALITY_ORIGIN: dict[str, dict[str, float]] = {
    "MAR": {"maghreb": 1.0},
    "DZA": {"maghreb_east": 1.0},
    "TUN": {"maghreb_east": 1.0},
    "SEN": {"senegal": 1.0},
    "GIN": {"guinea": 1.0},
    "MLI": {"mali": 1.0},
    "CIV": {"ivorian": 1.0},
    "FRA": {"french": 0.85, "maghreb": 0.15},
    "SYR": {"syrian": 1.0},
    "ESP": {"spanish": 1.0},
    "ITA": {"italian": 1.0},
    "CHN": {"chinese": 1.0},
    "CMR": {"cameroon": 1.0},
    "COD": {"congo": 1.0},
    "NGA": {"nigerian": 1.0},
}


def all_given_names() -> set[str]:
    return {n for o in ORIGINS.values() for n in (*o.male, *o.female)}


def all_family_names() -> set[str]:
    return {n for o in ORIGINS.values() for n in o.family}


# --- Variant spellings -----------------------------------------------------------------------

# Whole-word variants the rules cannot reach (vowel drift, Abd compounds, distinct traditions).
WORD_VARIANTS: dict[str, tuple[str, ...]] = {
    "mohamed": ("Mohammed", "Muhammad", "Mouhamed", "Mohammad", "Mohamad", "Muhammed",
                "Mouhammed", "Mohamet", "Mahomed", "Mouhamad", "Muhamed", "Mohamud", "Mohemed",
                "Mohmed"),
    "mohammad": ("Mohamed", "Muhammad", "Mohammed", "Mohamad", "Muhammed"),
    "mhamed": ("M'hamed", "M'Hamed", "Mhammed", "Mhamad"),
    "youssef": ("Yousef", "Yusuf", "Youssouf", "Youcef", "Yussef", "Yousseff"),
    "yousef": ("Youssef", "Yusuf", "Yousif"),
    "abdelkader": ("Abd El Kader", "Abdul Qadir", "Abdelkhader", "Abdelqader", "Abdelkadir",
                   "Abdel Kader", "Abdulkader"),
    "abdellah": ("Abdallah", "Abdullah", "Abd Allah", "Abdalah", "Abdelah"),
    "abdullah": ("Abdallah", "Abdellah", "Abd Allah"),
    "rachid": ("Rashid", "Rachide", "Rached"),
    "khadija": ("Khadidja", "Kadija", "Khedija", "Khadiga"),
    "aicha": ("Aïcha", "Aisha", "Aycha", "Aïsha"),
    "said": ("Saïd", "Saeed", "Sayed", "Saaid"),
    "hassan": ("Hasan", "Hassane", "Hacen"),
    "mustapha": ("Mustafa", "Moustapha", "Mostafa", "Moustafa"),
    "hicham": ("Hisham", "Hichem"),
    "fatima": ("Fatma", "Fatimah", "Fatime"),
    "ahmed": ("Ahmad", "Ahmet"),
    "ahmad": ("Ahmed",),
    "zineb": ("Zaynab", "Zeinab", "Zinab", "Zainab"),
    "naima": ("Naïma", "Naeema"),
    "souad": ("Suad", "Souaad"),
    "brahim": ("Ibrahim",),
    "ghali": ("Rhali", "Ghaly"),
    "ettaoussi": ("El Taoussi", "Et-Taoussi", "Taoussi"),
    "mamadou": ("Mamadu", "Mamoudou", "Mohamadou"),
    "ousmane": ("Usman", "Ousman", "Othmane"),
    "othmane": ("Otmane", "Outhmane", "Osman"),
    "abdoulaye": ("Abdulaye", "Abdoulay"),
    "ibrahima": ("Ibrahim", "Ibrahime"),
    "lefèvre": ("Lefebvre", "Lefevre"),
    "ndiaye": ("N'Diaye", "Ndiay"),
    "driss": ("Idriss", "Dris"),
    "lahcen": ("Lahsen", "Lhassan", "Lahoucine"),
}

# Arabic transliteration rules on lower-case text (French habits: ou, ch, kh, gh/rh, dj, q/k).
ARABIC_RULES: tuple[tuple[str, str], ...] = (
    (r"(?<=\w)ou", "u"),
    (r"\bou(?=[aeiy])", "w"),
    (r"\bw", "ou"),
    (r"ch", "sh"),
    (r"sh", "ch"),
    (r"kh", "k"),
    (r"gh", "rh"),
    (r"rh", "gh"),
    (r"dj", "j"),
    (r"(?<!d)j", "dj"),
    (r"q", "k"),
    (r"(?<=l)k", "q"),
    (r"(?<=\w)e", "a"),
    (r"(?<=[bdhklmnrstz])a(?=[a-z])", "e"),
    (r"(?<=[aeu])i", "y"),
    (r"a$", "ah"),
    (r"ou(?=[a-z])", "o"),
    (r"(?<=\w)o(?!u)", "ou"),
    (r"\b(?:el|al) ", "al "),
    (r"\b(?:el|al) ", "el "),
    (r"\b(?:el|al) ", "el-"),
    (r"\b(?:el|al) ", "el"),
    (r"\b(?:el|al) ", ""),
    (r"\be([tdnrsz])\1", r"el \1"),
    (r"\be([tdnrsz])\1", r"e\1-\1"),
    (r"\bben ", "bin "),
    (r"\bben ", "ibn "),
    (r"\bben ", "ben"),
    (r"\bait ", "aït "),
    (r"\bait ", "ayt "),
    (r"\bait ", "ait"),
    (r"\bould ", "oulad "),
    (r"\bould ", "ould-"),
    (r"\babdel(?=[a-z]{3})", "abd el "),
    (r"\babdel(?=[a-z]{3})", "abdul "),
    (r"\babd([eu])([rsnz])\2", r"abd \1\2 \2"),
    (r"\babd[eu]([rsnz])\1", r"abdel \1"),
)
# Rules shared by every tradition: doubled consonants and West African apostrophes.
COMMON_RULES: tuple[tuple[str, str], ...] = (
    (r"([bcdfgklmnprstz])\1", r"\1"),
    (r"(?<=[aeiou])([bdklmnrstz])(?=[aeiou])", r"\1\1"),
)
AFRICAN_RULES: tuple[tuple[str, str], ...] = (
    (r"(?<=\w)ou", "u"),
    (r"\bn(?=[dg][a-z])", "n'"),
    (r"\bn'", "n"),
    (r"e$", "é"),
    (r"dia", "dja"),
)
RULESETS: dict[str, tuple[tuple[str, str], ...]] = {
    "arabic": ARABIC_RULES + COMMON_RULES,
    "african": AFRICAN_RULES + COMMON_RULES,
    "european": COMMON_RULES,
    "none": (),
}


def _title(text: str) -> str:
    """Capitalise each word the way registers do (apostrophes and hyphens start words)."""
    return re.sub(r"(^|[\s\-'])(\w)", lambda m: m.group(1) + m.group(2).upper(), text)


@cache
def variants(name: str, rules: str) -> tuple[str, ...]:
    """Alternative spellings of a name (never the name itself), in a fixed order."""
    found: dict[str, None] = {}
    lower = name.lower()
    words = lower.split(" ")
    for i, word in enumerate(words):
        for alt in WORD_VARIANTS.get(word, ()):
            found[" ".join([*words[:i], alt.lower(), *words[i + 1:]])] = None
    for pattern, repl in RULESETS[rules]:
        alt = re.sub(pattern, repl, lower, count=1)
        if alt != lower and len(alt.replace(" ", "")) >= 2:
            found[alt] = None
    out = dict.fromkeys(_title(v) for v in found)
    out.pop(name, None)
    return tuple(out)


# --- Other noise -----------------------------------------------------------------------------

LETTERS = "abcdefghijklmnopqrstuvwxyz"


def typo(name: str, s: Stream) -> str:
    """One insertion, deletion, substitution or transposition at a letter position."""
    # The first letter is rarely mistyped; keeping it also keeps capitals where they were.
    positions = [i for i, c in enumerate(name) if c.isalpha() and i > 0]
    if len(positions) < 2:
        return name
    i = s.pick(positions)
    kind = s.between(0, 3)
    letter = s.pick(LETTERS)
    letter = letter.upper() if name.isupper() else letter
    if kind == 0:
        return name[:i] + letter + name[i:]
    if kind == 1:
        return name[:i] + name[i + 1:]
    if kind == 3 and i + 1 < len(name) and name[i + 1].isalpha():
        return name[:i] + name[i + 1] + name[i] + name[i + 2:]
    return name[:i] + letter + name[i + 1:]


def spacing(name: str, s: Stream) -> str:
    """A stray double space, or a hyphen where a space was (and vice versa)."""
    if "-" in name:
        return name.replace("-", " ", 1)
    if " " in name:
        return name.replace(" ", s.pick(("  ", "-")), 1)
    return name + " " if s.chance(0.5) else " " + name


@cache
def strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def style(name: str, upper: bool, accents: bool) -> str:
    """Write a name the way an agency's system does: case and accents."""
    if not accents:
        name = strip_accents(name)
    return name.upper() if upper else name


def fold(name: str) -> str:
    """Case- and accent-insensitive form, for comparing a written name to the truth."""
    return " ".join(strip_accents(name).casefold().replace("-", " ").split())
